#!/bin/bash
# Lays out the CNI plugin as a self-contained, relocatable directory and trains its AOT cache:
#   <out>/weft                 launcher (the conflist's plugin type; copy to the host's CNI bin dir)
#   <out>/weft.d/java/         JDK 25 runtime made with jlink (modules below), no link to the build machine's JDK
#   <out>/weft.d/cni-shim.jar  + lib/ (copy-dependencies writes it there)
#   <out>/weft.d/weft.aot      JDK 25 AOT cache trained by dev.weft.cni.shim.Train with that runtime
#   <out>/weft.d/BUILD         what the runtime and the jars were made from (install-cni skips an identical copy)
#   <out>/weft-cni             symlink to weft (the launcher's former name)
# Installing is copying weft and weft.d/ side by side with `cp -a` (timestamps keep the AOT cache valid).
set -euo pipefail
jar=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
rt="$out/weft.d"
# What jdeps --print-module-deps reports for the shim and its jars.
modules=java.base,java.logging,jdk.unsupported
mkdir -p "$rt"
# jlink takes ~13 s: reuse the runtime while the JDK and the module list are the same.
stamp="$("$java_home/bin/java" -XshowSettings:properties -version 2>&1 | grep -E 'java\.(vm\.)?version =' | tr -d ' ' | sort | tr '\n' ' ')modules=$modules"
if [ ! -x "$rt/java/bin/java" ] || [ "$(cat "$rt/java/.weft-stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$rt/java"
  "$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --output "$rt/java"
  echo "$stamp" > "$rt/java/.weft-stamp"
fi
cp -p "$jar" "$rt/cni-shim.jar"
install -m 0755 "$here/weft" "$out/weft"
ln -sfn weft "$out/weft-cni"
rm -f "$out/java" "$out/cni-shim.jar" "$out/weft-cni.aot"   # the layout before weft.d/
rm -rf "$out/lib" "$out/native" "$rt/native"
# copy-dependencies never deletes: drop jars of an earlier build that the shim's class path no longer names.
manifest=$(mktemp -d)
(cd "$manifest" && "$java_home/bin/jar" xf "$rt/cni-shim.jar" META-INF/MANIFEST.MF)
classpath=$(tr -d '\r' < "$manifest/META-INF/MANIFEST.MF" | awk '/^Class-Path:/{cp=substr($0,13);f=1;next} f&&/^ /{cp=cp substr($0,2);next} {f=0} END{print cp}')
rm -rf "$manifest"
for j in "$rt"/lib/*.jar; do
  case " $classpath " in *" lib/${j##*/} "*) ;; *) rm -f "$j" ;; esac
done
rm -f "$rt/weft.aot"
WEFT_CNI_AOT_OUTPUT="$rt/weft.aot" "$out/weft"
{
  echo "$stamp"
  (cd "$rt" && find cni-shim.jar lib -type f -printf '%p %s %T@\n' | sort)
} | sha256sum | cut -c1-16 > "$rt/BUILD"
echo "weft CNI plugin: laid out in $out (runtime $(du -sh "$rt/java" | cut -f1), AOT cache $(du -h "$rt/weft.aot" | cut -f1))"
