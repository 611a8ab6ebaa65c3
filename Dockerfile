FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The same install the CI stage scripts/shipped_topology.sh runs and checks: runtime only.
COPY requirements.txt constraints.txt ./
COPY scripts/install-requirements.sh scripts/
RUN PIP_NO_CACHE_DIR=1 scripts/install-requirements.sh python runtime
COPY . .
RUN useradd --create-home specgate && mkdir -p /data && chown specgate /data && chmod 700 /data
USER specgate
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.asgi:application"]
