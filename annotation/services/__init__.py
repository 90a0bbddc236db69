"""Services: the functions that write. Pages, API, admin and tasks all call these."""
