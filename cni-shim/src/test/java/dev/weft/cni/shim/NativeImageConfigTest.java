package dev.weft.cni.shim;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import com.google.protobuf.GeneratedMessage;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The -Pnative configuration cannot be built here (no GraalVM), so it is checked on paper: every class
 * reflect-config.json names exists, and every protobuf message of cni.proto (and its builder) is registered.
 */
class NativeImageConfigTest {

    static final String CONFIG = "META-INF/native-image/dev.weft/cni-shim/reflect-config.json";

    static Set<String> registered() throws IOException {
        try (InputStream in = NativeImageConfigTest.class.getClassLoader().getResourceAsStream(CONFIG)) {
            assertNotNull(in, CONFIG + " is not on the class path");
            Set<String> names = new TreeSet<>();
            for (JsonElement e : JsonParser.parseReader(new InputStreamReader(in, StandardCharsets.UTF_8)).getAsJsonArray()) {
                names.add(e.getAsJsonObject().get("name").getAsString());
            }
            return names;
        }
    }

    @Test
    void everyRegisteredClassExists() throws IOException {
        List<String> missing = new ArrayList<>();
        for (String name : registered()) {
            try {
                Class.forName(name, false, getClass().getClassLoader());
            } catch (ClassNotFoundException e) {
                missing.add(name);
            }
        }
        assertEquals(List.of(), missing, "reflect-config.json names classes that do not exist");
    }

    @Test
    void everyCniMessageAndItsBuilderIsRegistered() throws Exception {
        Path dir = Path.of("target/classes/dev/weft/proto/cni/v1");
        Set<String> expected = new TreeSet<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                String name = "dev.weft.proto.cni.v1." + f.getFileName().toString().replaceAll("\\.class$", "");
                Class<?> c = Class.forName(name, false, getClass().getClassLoader());
                if (GeneratedMessage.class.isAssignableFrom(c)) {
                    expected.add(c.getName());
                } else if (c.getSimpleName().equals("Builder") && c.getEnclosingClass() != null
                        && GeneratedMessage.class.isAssignableFrom(c.getEnclosingClass())) {
                    expected.add(c.getName());
                }
            }
        }
        Set<String> unregistered = new TreeSet<>(expected);
        unregistered.removeAll(registered());
        assertEquals(Set.of(), unregistered, "protobuf messages of cni.proto missing from " + CONFIG);
    }
}
