#!/bin/bash
# Lays out the shim for installation and trains its AOT cache:
#   <out>/weft-cni  launcher      <out>/cni-shim.jar (+ lib/ from copy-dependencies)
#   <out>/java      the JVM used  <out>/native/     Netty's epoll library, pre-extracted
#   <out>/weft-cni.aot            JDK 25 AOT cache trained by dev.weft.cni.shim.Train
set -euo pipefail
jar=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
mkdir -p "$out/native"
cp -p "$jar" "$out/cni-shim.jar"
install -m 0755 "$here/weft-cni" "$out/weft-cni"
ln -sfn "$java_home/bin/java" "$out/java"
epoll=$(ls "$out"/lib/netty-transport-native-epoll-*-linux-x86_64.jar | head -1)
(cd "$out/native" && "$java_home/bin/jar" xf "$epoll" META-INF/native/libnetty_transport_native_epoll_x86_64.so \
  && mv META-INF/native/libnetty_transport_native_epoll_x86_64.so . && rm -rf META-INF)
rm -f "$out/weft-cni.aot"
# Train with the same class path and flags as the launcher so that the cache is accepted at run time.
"$out/java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Xss512k -Xmx64m \
  --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -XX:AOTCacheOutput="$out/weft-cni.aot" -Xlog:aot=warning,cds=warning \
  -Dweft.cni.epoll="$out/native/libnetty_transport_native_epoll_x86_64.so" \
  -Dio.netty.tryReflectionSetAccessible=false \
  -cp "$out/cni-shim.jar" dev.weft.cni.shim.Train
echo "weft-cni: laid out in $out (AOT cache $(du -h "$out/weft-cni.aot" | cut -f1))"
