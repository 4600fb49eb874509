FROM golang:1.22 AS build
WORKDIR /go/src/app
COPY . .
RUN CGO_ENABLED=0 go build -o /go/bin/app
 	
FROM scratch  
COPY --from=build /go/bin/app / 	
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ 
USER 65534:65534 
ENTRYPOINT ["/app"] 
	