FROM a
RUN <<-EOF
	echo indented
		echo more
	EOF
