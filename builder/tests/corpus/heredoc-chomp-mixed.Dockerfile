FROM a
RUN cat <<-A <<B
	a
	A
	b
B
