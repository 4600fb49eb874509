FROM a
CMD cat <<EOF
ENV x=1
