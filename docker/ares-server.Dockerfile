# The ares-server image: the static binary alone, FROM scratch, so nothing
# is pulled. `make image` builds it from a context holding only bin/ares-server.
#   docker run --rm ares-torture/ares-server:latest --id s1 --listen :7001 --data /data
FROM scratch
COPY ares-server /ares-server
VOLUME ["/data"]
EXPOSE 7001
ENTRYPOINT ["/ares-server"]
