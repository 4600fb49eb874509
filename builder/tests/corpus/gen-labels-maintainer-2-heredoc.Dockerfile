FROM ubuntu:22.04
MAINTAINER Jane Doe <jane@example.com>
LABEL version="1.0" description="This text illustrates \
that label-values can span multiple lines."
LABEL "com.example.vendor"="ACME Incorporated"
LABEL com.example.label-with-value="foo"
LABEL multi.label1="value1" multi.label2="value2" other="value3"
