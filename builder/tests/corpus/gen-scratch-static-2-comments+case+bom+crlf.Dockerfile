frOM golang:1.22 AS build
WOrkDIr /go/src/app
COpY . .
RuN CGO_ENABLED=0 go build -o /go/bin/app

frOM scratch
CopY --from=build /go/bin/app /
cOpy --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
USeR 65534:65534
ENTRyPoINt ["/app"]
