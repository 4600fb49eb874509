FROM maven:3.9-eclipse-temurin-21 AS build
WORKDIR /workspace
COPY pom.xml .
RUN mvn -B -q dependency:go-offline
COPY src ./src
RUN mvn -B -q package -DskipTests

FROM eclipse-temurin:21-jre
LABEL org.opencontainers.image.source="https://example.com/repo" \
      org.opencontainers.image.description="Demo service" \
      maintainer="team@example.com"
COPY --from=build /workspace/target/*.jar /opt/app/app.jar
EXPOSE 8080/tcp 8443
VOLUME ["/tmp"]
ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/opt/app/app.jar"]
