# CX Hub image: web (gunicorn), worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY requirements.lock .
RUN pip install -r requirements.lock

COPY . .
RUN SECRET_KEY=build-only-collectstatic-key-not-used-at-run-time-0123456789 \
    DJANGO_SETTINGS_MODULE=cxhub.settings_production \
    python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 cxhub \
    && chown -R cxhub /app

USER cxhub
EXPOSE 8000
CMD ["gunicorn", "cxhub.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
