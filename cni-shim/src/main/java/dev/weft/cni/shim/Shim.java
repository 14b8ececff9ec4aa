package dev.weft.cni.shim;

import com.google.protobuf.ByteString;
import dev.weft.net.AddressFamily;
import dev.weft.net.AddressFormatException;
import dev.weft.net.InterfaceAddress;
import dev.weft.proto.cni.v1.CniCall;
import dev.weft.proto.cni.v1.CniError;
import dev.weft.proto.cni.v1.CniReply;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.CniResponse;
import dev.weft.proto.cni.v1.CniResult;
import dev.weft.proto.cni.v1.ErrorCode;
import dev.weft.proto.cni.v1.GcRequest;
import dev.weft.proto.cni.v1.GcResponse;
import dev.weft.proto.cni.v1.Interface;
import dev.weft.proto.cni.v1.IpConfig;
import dev.weft.proto.cni.v1.Route;
import java.io.IOException;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The CNI plugin per the CNI spec 1.0/1.1: reads the CNI_* environment and the network configuration from stdin,
 * forwards ADD/CHECK/DEL/GC verbatim to the node agent on the UNIX socket named by the configuration's
 * {@code agentSocket} (one length-delimited protobuf {@code CniCall} out, one {@code CniReply} back; cni.proto says
 * why not gRPC), and prints the result or a spec error object on stdout (exit status 1 on error). It loads nothing
 * but the JDK, protobuf and the generated messages, so a trained AOT cache makes the JVM start most of its cost.
 */
public final class Shim {

    public static final String DEFAULT_SOCKET = "/var/run/weft/cni.sock";
    static final List<String> SUPPORTED = List.of("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0");

    private Shim() {
    }

    /** Runs one invocation; returns the process exit status. */
    public static int run(Map<String, String> env, byte[] stdin, PrintStream out) {
        String command = env.getOrDefault("CNI_COMMAND", "");
        String text = new String(stdin, StandardCharsets.UTF_8);
        Map<?, ?> config = null;
        String parseError = null;
        if (!text.isBlank()) {
            try {
                Object parsed = Json.parse(text);
                if (parsed instanceof Map<?, ?> m) {
                    config = m;
                } else {
                    parseError = "network configuration must be a JSON object";
                }
            } catch (Json.ParseException e) {
                parseError = "network configuration is not valid JSON: " + e.getMessage();
            }
        } else if (!command.equals("VERSION")) {
            parseError = "no network configuration on stdin";
        }
        String version = config != null && config.get("cniVersion") instanceof String v ? v : "1.0.0";

        if (command.equals("VERSION")) {
            out.print("{\"cniVersion\":" + Json.quote(SUPPORTED.contains(version) ? version : "1.1.0")
                    + ",\"supportedVersions\":[\"" + String.join("\",\"", SUPPORTED) + "\"]}\n");
            return 0;
        }
        if (command.isEmpty()) {
            return error(out, version, ErrorCode.INVALID_ENVIRONMENT_VARIABLES_VALUE, "CNI_COMMAND is not set", "");
        }
        if (parseError != null) {
            return error(out, version, ErrorCode.DECODING_FAILURE_VALUE, parseError, "");
        }
        String socket = config.get("agentSocket") instanceof String s && !s.isBlank() ? s : DEFAULT_SOCKET;
        switch (command) {
            case "ADD", "CHECK", "DEL" -> {
                return forward(command, env, stdin, socket, version, out);
            }
            case "GC" -> {
                return gc(env, stdin, socket, version, out);
            }
            case "STATUS" -> {
                return Files.exists(Path.of(socket)) ? 0
                        : error(out, version, 50, "the weft agent is not running (no socket " + socket + ")", "");
            }
            default -> {
                return error(out, version, ErrorCode.INVALID_ENVIRONMENT_VARIABLES_VALUE,
                        "unknown CNI_COMMAND " + command, "supported: ADD, CHECK, DEL, GC, STATUS, VERSION");
            }
        }
    }

    /**
     * CNI 1.1 GC: the agent releases what is not in {@code cni.dev/valid-attachments} (and validates that list). Success
     * prints nothing, as the spec asks.
     */
    private static int gc(Map<String, String> env, byte[] stdin, String socket, String version, PrintStream out) {
        if (!Files.exists(Path.of(socket))) {
            return error(out, version, ErrorCode.AGENT_UNAVAILABLE_VALUE,
                    "the weft agent is unreachable: no socket " + socket, "is the weft agent running on this node?");
        }
        GcRequest request = GcRequest.newBuilder().setPath(env.getOrDefault("CNI_PATH", ""))
                .setNetworkConfiguration(ByteString.copyFrom(stdin)).build();
        return call(socket, version, out, CniCall.newBuilder().setGc(request).build(), 60_000, reply -> {
            GcResponse response = reply.getGc();
            if (response.hasError()) {
                CniError e = response.getError();
                return error(out, version, e.getCodeValue(), e.getMsg(), e.getDetails());
            }
            return 0;
        });
    }

    private interface Answer {
        int on(CniReply reply);
    }

    /**
     * One call to the agent on its UNIX socket; transport failures become spec errors. The deadline closes the
     * connection if the agent does not answer in time (the kubelet has its own timeout, this one names the cause).
     */
    private static int call(String socket, String version, PrintStream out, CniCall call, long deadlineMillis, Answer answer) {
        CniReply reply;
        AtomicBoolean expired = new AtomicBoolean();
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            Thread timer = Thread.ofPlatform().daemon().start(() -> {
                try {
                    Thread.sleep(deadlineMillis);
                    expired.set(true);
                    channel.close();
                } catch (InterruptedException | IOException e) {
                    // answered in time, or nothing left to close
                }
            });
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
                call.writeDelimitedTo(Channels.newOutputStream(channel));
                reply = CniReply.parseDelimitedFrom(Channels.newInputStream(channel));
            } finally {
                timer.interrupt();
            }
        } catch (IOException e) {
            if (expired.get()) {
                return error(out, version, ErrorCode.AGENT_UNAVAILABLE_VALUE, "the weft agent at " + socket
                        + " did not answer within " + deadlineMillis / 1000 + " s", "");
            }
            return error(out, version, ErrorCode.AGENT_UNAVAILABLE_VALUE,
                    "the weft agent is unreachable at " + socket + ": " + e.getMessage(), "is the weft agent running on this node?");
        }
        if (reply == null) {
            return error(out, version, ErrorCode.AGENT_UNAVAILABLE_VALUE,
                    "the weft agent at " + socket + " closed the connection without an answer", "");
        }
        return answer.on(reply);
    }

    private static int forward(String command, Map<String, String> env, byte[] stdin, String socket, String version,
                               PrintStream out) {
        CniRequest request = CniRequest.newBuilder()
                .setContainerId(env.getOrDefault("CNI_CONTAINERID", ""))
                .setNetns(env.getOrDefault("CNI_NETNS", ""))
                .setIfname(env.getOrDefault("CNI_IFNAME", ""))
                .setArgs(env.getOrDefault("CNI_ARGS", ""))
                .setPath(env.getOrDefault("CNI_PATH", ""))
                .setNetworkConfiguration(ByteString.copyFrom(stdin))
                .build();
        if (!Files.exists(Path.of(socket))) {
            return error(out, version, ErrorCode.AGENT_UNAVAILABLE_VALUE,
                    "the weft agent is unreachable: no socket " + socket, "is the weft agent running on this node?");
        }
        CniCall call = switch (command) {
            case "ADD" -> CniCall.newBuilder().setAdd(request).build();
            case "CHECK" -> CniCall.newBuilder().setCheck(request).build();
            default -> CniCall.newBuilder().setDel(request).build();
        };
        return call(socket, version, out, call, command.equals("ADD") ? 120_000 : 60_000, reply -> {
            CniResponse response = reply.getResponse();
            if (response.hasError()) {
                CniError e = response.getError();
                return error(out, version, e.getCodeValue(), e.getMsg(), e.getDetails());
            }
            if (command.equals("ADD")) {
                String result;
                try {
                    result = renderResult(response.getResult(), version);
                } catch (AddressFormatException e) {
                    return error(out, version, ErrorCode.INTERNAL_ERROR_VALUE,
                            "the weft agent returned an invalid result: " + e.getMessage(), "");
                }
                out.print(result);
            }
            return 0;
        });
    }

    static int error(PrintStream out, String version, int code, String msg, String details) {
        StringBuilder b = new StringBuilder("{\"cniVersion\":").append(Json.quote(version))
                .append(",\"code\":").append(code)
                .append(",\"msg\":").append(Json.quote(msg));
        if (details != null && !details.isEmpty()) {
            b.append(",\"details\":").append(Json.quote(details));
        }
        out.print(b.append("}\n"));
        return 1;
    }

    /** The ADD result in the format of the requested cniVersion (0.3.x/0.4.0 carry an ip "version" field). */
    static String renderResult(CniResult r, String version) {
        boolean legacy = version.startsWith("0.");
        StringBuilder b = new StringBuilder("{\"cniVersion\":").append(Json.quote(version));
        b.append(",\"interfaces\":[");
        for (int k = 0; k < r.getInterfacesCount(); k++) {
            Interface i = r.getInterfaces(k);
            b.append(k == 0 ? "" : ",").append("{\"name\":").append(Json.quote(i.getName()));
            if (!i.getMac().isEmpty()) {
                b.append(",\"mac\":").append(Json.quote(i.getMac()));
            }
            if (!i.getSandbox().isEmpty()) {
                b.append(",\"sandbox\":").append(Json.quote(i.getSandbox()));
            }
            b.append('}');
        }
        b.append("],\"ips\":[");
        for (int k = 0; k < r.getIpsCount(); k++) {
            IpConfig ip = r.getIps(k);
            b.append(k == 0 ? "" : ",").append('{');
            if (legacy) {
                boolean v6 = InterfaceAddress.parse(ip.getAddress()).family() == AddressFamily.IPV6;
                b.append("\"version\":").append(Json.quote(v6 ? "6" : "4")).append(',');
            }
            b.append("\"address\":").append(Json.quote(ip.getAddress()));
            if (!ip.getGateway().isEmpty()) {
                b.append(",\"gateway\":").append(Json.quote(ip.getGateway()));
            }
            b.append(",\"interface\":").append(ip.getInterface()).append('}');
        }
        b.append("],\"routes\":[");
        for (int k = 0; k < r.getRoutesCount(); k++) {
            Route rt = r.getRoutes(k);
            b.append(k == 0 ? "" : ",").append("{\"dst\":").append(Json.quote(rt.getDst()));
            if (!rt.getGw().isEmpty()) {
                b.append(",\"gw\":").append(Json.quote(rt.getGw()));
            }
            b.append('}');
        }
        b.append("],\"dns\":{}}\n");
        return b.toString();
    }
}
