FROM ubuntu
RUN <<SCRIPT
mkdir /myvol
SCRIPT
RUN <<-EOF
	echo "hello world" > /myvol/greeting
	EOF
VOLUME /myvol
VOLUME ["/data", "/var/log"]
VOLUME /a /b   /c
