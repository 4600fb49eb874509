# escape=` 	
  
FRoM mcr.microsoft.com/windows/servercore:ltsc2022
SheLl ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"] 	
RUn New-Item -ItemType Directory C:\Example; `
    Set-Content -Path C:\Example\a.txt -Value hello	
AdD Execute-MyCmdlet.ps1 c:\example\  
RUn c:\example\Execute-MyCmdlet -sample 'hello world' 
WORkDIR C:\app	
CoPy . C:\app 	
