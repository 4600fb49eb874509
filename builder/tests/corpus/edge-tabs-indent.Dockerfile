FROM a
	RUN	echo	tab
		ENV	A	B
