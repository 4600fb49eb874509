# escape=`
  # indented comment
   

FROM mcr.microsoft.com/windows/servercore:ltsc2022

SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN New-Item -ItemType Directory C:\Example; `
  # indented comment
    Set-Content -Path C:\Example\a.txt -Value hello
ADD Execute-MyCmdlet.ps1 c:\example\
RUN <<-EOF
	c:\example\Execute-MyCmdlet -sample 'hello world'
	EOF
WORKDIR C:\app
COPY . C:\app

