aRg GO_VERSION=1.22 
frOm --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
arg TARGETOS  
ArG TARGETARCH 
woRkdir /src
cOpY go.mod go.sum ./ 	
RUN --mount=type=cache,target=/go/pkg/mod go mod download
cOpy . . 	
Run --mount=type=cache,target=/go/pkg/mod \ 
  # indented comment	
    --mount=type=cache,target=/root/.cache/go-build \ 
#
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/app	

FrOM gcr.io/distroless/static:nonroot 
CoPY --from=build /out/app /app 	
USEr nonroot:nonroot	
ENtRyPOiNT ["/app"]  
	