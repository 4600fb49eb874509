# escape=`
FROM alpine:3.19 	
RUN apk add --no-cache ` 	
	  
      bash `  
      curl ` 
      jq ` 	
      git `	

      openssh-client	
  
ARG USER=tools  
ARG UID=1000 
 
RUN <<SCRIPT
adduser -D -u ${UID} ${USER} 	
SCRIPT
	
USER ${USER}
WORKDIR /home/${USER}	
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN <<SCRIPT
curl -fsSL https://example.com/install.sh | bash 	
SCRIPT
CMD ["bash"] 	
 	