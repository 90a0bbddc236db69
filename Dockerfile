FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY annotation ./annotation
COPY api ./api
COPY ops ./ops
# The main dependencies only: the test extra's reference libraries (statsmodels, krippendorff,
# pandas) never reach the image.
RUN pip install --no-cache-dir .
COPY . .
# A throwaway key for this build step only: the running site takes SECRET_KEY from its
# environment and refuses to start without one.
RUN DEBUG=false SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4"]
