FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY . .
RUN useradd --create-home specgate && mkdir -p /data && chown specgate /data
USER specgate
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.asgi:application"]
