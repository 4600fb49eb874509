# escape=`
from alpine as Builder
run echo lower 	
Copy --from=builder /etc/os-release /tmp/
Env A=1 
Label a=b  
Expose 80
cmd ["sh"] 
 	