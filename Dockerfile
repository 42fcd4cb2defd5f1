# radius_server: a small image that runs the RADIUS server (and, with CMD web, the HTTP API
# and web pages: set RADIUS_WEB_HOST=0.0.0.0 and put a TLS proxy in front).
# Build: docker build -t radius-server .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY radius_server ./radius_server
COPY db ./db
COPY dictionaries ./dictionaries
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --home /data --uid 1812 radius && mkdir -p /data && chown radius /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER radius
ENV RADIUS_DATA_DIR=/data \
    RADIUS_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 1812/udp 1813/udp 8080/tcp
ENTRYPOINT ["radius-server"]
CMD ["serve"]
