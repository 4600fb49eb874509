# escape=`
From debian:stable  
ruN apt-get update && apt-get install -y --force-yes apache2 	
eXPoSE 80 443	
volUme ["/var/www", "/var/log/apache2", "/etc/apache2"] 
enTRyPoiNt ["/usr/sbin/apache2ctl", "-D", "FOREGROUND"] 
enTryPOINT exec top -b
CMd echo "This is a test." | wc - 
	