    arg BASE=alpine
 ArG TAG=3.19
FrOM ${BASE}:${TAG} AS first
 ARg BASE

    ARg VERSION=1.0.0
 Env APP_VERSION=$VERSION
    run echo "building $APP_VERSION on $BASE"


	FROM first
	Arg EXTRA
Env EXTRA=${EXTRA:-none}

	lABEl version=$APP_VERSION extra=${EXTRA}
