frOm alpine as Builder 	
ruN echo lower 
coPy --from=builder /etc/os-release /tmp/  
env A=1  
label a=b 
expOse 80  
cmd ["sh"]	
 	