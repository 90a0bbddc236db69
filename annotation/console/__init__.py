"""The researcher console's own pages, hung off the Django admin's project page.

Each page is a module here with `PAGE` (its title and URL name, shown as a link on the
project page) and `urlpatterns(project_admin)` (its routes, wrapped in `admin_view`).
Views stay thin: they call selectors and services in annotation/, like the API does.
"""
