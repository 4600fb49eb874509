FROM ubuntu 	
    RUN mkdir /myvol  
	RUN echo "hello world" > /myvol/greeting	
  
	VOLUME /myvol	
 VOLUME ["/data", "/var/log"]  
VOLUME /a /b   /c	
 
	