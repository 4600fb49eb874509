# escape=`
FRoM mcr.microsoft.com/dotnet/sdk:8.0 AS build
    WORKDIR /source
 COPY *.csproj .
 RUN dotnet restore
CopY . .
	RUN dotnet publish -c Release -o /app --no-restore

fRoM mcr.microsoft.com/dotnet/aspnet:8.0
 WORKDIR /app
COpY --from=build /app .
    ENV ASPNETCORE_URLS=http://+:8080
 ENTRYPOINT ["dotnet", "aspnetapp.dll"]
