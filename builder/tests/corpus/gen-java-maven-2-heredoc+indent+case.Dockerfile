fROm maven:3.9-eclipse-temurin-21 AS build
	WORKDIR /workspace
 COPY pom.xml .
 RUN <<EOF
mvn -B -q dependency:go-offline
EOF
	COPY src ./src
 RUN <<'EOT'
mvn -B -q package -DskipTests
EOT

	FROM eclipse-temurin:21-jre
LabEl org.opencontainers.image.source="https://example.com/repo" \
      org.opencontainers.image.description="Demo service" \
      maintainer="team@example.com"
    COPY --from=build /workspace/target/*.jar /opt/app/app.jar
	EXPOSE 8080/tcp 8443
VOLuME ["/tmp"]
entrYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/opt/app/app.jar"]
