package dev.weft.cni.shim;

import dev.weft.proto.cni.v1.CniResult;
import dev.weft.proto.cni.v1.Interface;
import dev.weft.proto.cni.v1.IpConfig;
import dev.weft.proto.cni.v1.Route;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shim's own logic without an agent: JSON in and out, VERSION, and the errors it decides by itself. The round
 * trips with the agent are in agent-service (ShimTest runs this module's launcher as a process).
 */
class ShimTest {

    private static String run(Map<String, String> env, String stdin, int expectedExit) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int exit = Shim.run(env, stdin.getBytes(StandardCharsets.UTF_8), new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(expectedExit, exit, out);
        return out;
    }

    @Test
    void parsesJson() throws Exception {
        Object v = Json.parse("{\"a\":[1,2.5,-3e2],\"b\":{\"c\":\"x\\\"y\\u0041\"},\"d\":true,\"e\":null}");
        Map<?, ?> m = (Map<?, ?>) v;
        assertEquals(List.of(1.0, 2.5, -300.0), m.get("a"));
        assertEquals("x\"yA", ((Map<?, ?>) m.get("b")).get("c"));
        assertEquals(Boolean.TRUE, m.get("d"));
        assertTrue(m.containsKey("e"));
        for (String bad : new String[] {"{", "{\"a\"}", "[1,]", "{\"a\":1} x", "\"open", "nul"}) {
            assertThrows(Json.ParseException.class, () -> Json.parse(bad), bad);
        }
        assertEquals("\"a\\\"b\\\\c\\n\\u0001\"", Json.quote("a\"b\\c\n\u0001"));
    }

    @Test
    void versionListsTheSupportedVersions() {
        String out = run(Map.of("CNI_COMMAND", "VERSION"), "{\"cniVersion\":\"0.4.0\"}", 0);
        assertEquals("{\"cniVersion\":\"0.4.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n", out);
    }

    @Test
    void errorsTheShimDecidesItself() {
        assertTrue(run(Map.of("CNI_COMMAND", "ADD"), "{oops", 1).contains("\"code\":6"));
        assertTrue(run(Map.of("CNI_COMMAND", "ADD"), "", 1).contains("\"code\":6"));
        assertTrue(run(Map.of(), "{\"cniVersion\":\"1.0.0\"}", 1).contains("\"code\":4"));
        assertTrue(run(Map.of("CNI_COMMAND", "FROB"), "{\"cniVersion\":\"1.0.0\"}", 1).contains("\"code\":4"));
        String unreachable = run(Map.of("CNI_COMMAND", "ADD"),
                "{\"cniVersion\":\"1.0.0\",\"name\":\"weft\",\"type\":\"weft\",\"agentSocket\":\"/nonexistent/weft.sock\"}", 1);
        assertTrue(unreachable.startsWith("{\"cniVersion\":\"1.0.0\",\"code\":102,"), unreachable);
        // GC is forwarded to the agent like ADD: without it, a spec error rather than a silent success.
        String gc = run(Map.of("CNI_COMMAND", "GC"), "{\"cniVersion\":\"1.1.0\",\"name\":\"weft\",\"type\":\"weft\","
                + "\"agentSocket\":\"/nonexistent/weft.sock\",\"cni.dev/valid-attachments\":[]}", 1);
        assertTrue(gc.startsWith("{\"cniVersion\":\"1.1.0\",\"code\":102,"), gc);
    }

    @Test
    void rendersResultsPerVersion() {
        CniResult r = CniResult.newBuilder().setCniVersion("1.0.0")
                .addInterfaces(Interface.newBuilder().setName("weftabc").setMac("aa:bb:cc:dd:ee:ff"))
                .addInterfaces(Interface.newBuilder().setName("eth0").setMac("0a:58:0a:00:00:05").setSandbox("/var/run/netns/x"))
                .addIps(IpConfig.newBuilder().setAddress("10.0.0.5/24").setGateway("10.0.0.1").setInterface(1))
                .addRoutes(Route.newBuilder().setDst("0.0.0.0/0").setGw("10.0.0.1")).build();
        assertEquals("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"weftabc\",\"mac\":\"aa:bb:cc:dd:ee:ff\"},"
                + "{\"name\":\"eth0\",\"mac\":\"0a:58:0a:00:00:05\",\"sandbox\":\"/var/run/netns/x\"}],"
                + "\"ips\":[{\"address\":\"10.0.0.5/24\",\"gateway\":\"10.0.0.1\",\"interface\":1}],"
                + "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.0.0.1\"}],\"dns\":{}}\n", Shim.renderResult(r, "1.0.0"));
        assertTrue(Shim.renderResult(r, "0.3.1").contains("{\"version\":\"4\",\"address\":\"10.0.0.5/24\""));
    }

    @Test
    void legacyResultsNameTheFamilyOfEachAddress() {
        CniResult r = CniResult.newBuilder().setCniVersion("0.3.1")
                .addIps(IpConfig.newBuilder().setAddress("10.0.0.5/24").setInterface(0))
                .addIps(IpConfig.newBuilder().setAddress("fd00:10::5/64").setInterface(0))
                .addIps(IpConfig.newBuilder().setAddress("::ffff:10.0.0.5/120").setInterface(0)).build();
        String json = Shim.renderResult(r, "0.3.1");
        assertTrue(json.contains("{\"version\":\"4\",\"address\":\"10.0.0.5/24\""), json);
        assertTrue(json.contains("{\"version\":\"6\",\"address\":\"fd00:10::5/64\""), json);
        assertTrue(json.contains("{\"version\":\"6\",\"address\":\"::ffff:10.0.0.5/120\""), json);
        CniResult bad = CniResult.newBuilder().addIps(IpConfig.newBuilder().setAddress("10.0.0.5").setInterface(0)).build();
        assertThrows(dev.weft.net.AddressFormatException.class, () -> Shim.renderResult(bad, "0.3.1"),
                "an address without its prefix length is not a result to pass on");
    }
}
