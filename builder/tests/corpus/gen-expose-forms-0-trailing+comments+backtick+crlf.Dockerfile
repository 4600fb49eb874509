# escape=`
FROM alpine 	
EXPOSE 80 	
EXPOSE 80/tcp 80/udp 	
EXPOSE 8000-8010/tcp 9000
ARG PORT=8080 
EXPOSE $PORT
	