# One image per service: docker build --build-arg SERVICE=product .
FROM python:3.11-slim
ARG SERVICE
ENV SERVICE=${SERVICE} \
    OMS_SERVICE=${SERVICE} \
    OMS_BIND=0.0.0.0:8000 \
    PYTHONUNBUFFERED=1
WORKDIR /srv/oms
COPY shared ./shared
COPY ${SERVICE}-service ./${SERVICE}-service
RUN pip install --no-cache-dir ./shared ./${SERVICE}-service
EXPOSE 8000
# Tables first (serialised by an advisory lock when replicas start together), then serve.
CMD ["sh", "-c", "flask --app ${SERVICE}_service.app init-db && exec gunicorn -c python:oms_shared.gunicorn_conf \"${SERVICE}_service.app:create_app()\""]
