FROM ubuntu  
RUN <<-SCRIPT
	mkdir /myvol  
	SCRIPT
 
RUN <<-SCRIPT
	echo "hello world" > /myvol/greeting  
	SCRIPT
VOLUME /myvol  
VOLUME ["/data", "/var/log"]  
	
VOLUME /a /b   /c 	
	
 