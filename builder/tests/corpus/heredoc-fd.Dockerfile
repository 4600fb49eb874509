FROM a
RUN cat 3<<EOF 4<<-X
three
EOF
	four
	X
