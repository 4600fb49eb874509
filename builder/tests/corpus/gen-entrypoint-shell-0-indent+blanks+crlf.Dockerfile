    FROM debian:stable
    RUN apt-get update && apt-get install -y --force-yes apache2

	EXPOSE 80 443

VOLUME ["/var/www", "/var/log/apache2", "/etc/apache2"]
ENTRYPOINT ["/usr/sbin/apache2ctl", "-D", "FOREGROUND"]
 ENTRYPOINT exec top -b
    CMD echo "This is a test." | wc -
