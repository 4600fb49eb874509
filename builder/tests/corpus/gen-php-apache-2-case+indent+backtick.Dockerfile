# escape=`
	FrOM php:8.3-apache
run docker-php-ext-install pdo pdo_mysql opcache
    rUn a2enmod rewrite headers
	cOPy --chown=www-data:www-data . /var/www/html/
 eNv APACHE_DOCUMENT_ROOT /var/www/html/public
 Run sed -ri -e 's!/var/www/html!${APACHE_DOCUMENT_ROOT}!g' /etc/apache2/sites-available/*.conf
 EXPose 80
