# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN New-Item -ItemType Directory C:\Example; `
    Set-Content -Path C:\Example\a.txt -Value hello
ADD Execute-MyCmdlet.ps1 c:\example\

RUN <<-'EOT'
	c:\example\Execute-MyCmdlet -sample 'hello world'
	EOT
WORKDIR C:\app
COPY . C:\app

