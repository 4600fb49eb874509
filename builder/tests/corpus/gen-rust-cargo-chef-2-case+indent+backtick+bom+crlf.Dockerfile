# escape=`
	FrOM rust:1.77 AS chef
 run cargo install cargo-chef
WORKdiR /app

    FrOM chef AS planner
	coPy . .
    RuN cargo chef prepare --recipe-path recipe.json

FROm chef AS builder
 CoPy --from=planner /app/recipe.json recipe.json
ruN cargo chef cook --release --recipe-path recipe.json
 CopY . .
 rUN cargo build --release --bin app

 froM debian:bookworm-slim AS runtime
	wOrkdiR /app
rUN apt-get update && apt-get install -y ca-certificates && rm -rf /var/lib/apt/lists/*
 COPY --from=builder /app/target/release/app /usr/local/bin
 enTrYpoint ["/usr/local/bin/app"]
