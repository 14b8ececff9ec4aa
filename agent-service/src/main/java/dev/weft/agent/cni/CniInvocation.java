package dev.weft.agent.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.ErrorCode;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A validated CNI request: the runtime's environment and the network configuration it passed on stdin.
 *
 * @param cniVersion the network configuration's cniVersion, echoed in the result
 */
public record CniInvocation(String containerId, String netns, String ifName, String podNamespace, String podName,
                            String podUid, String cniVersion, String networkName, JsonNode config) {

    /** The versions whose result format we produce (the shim renders the result for the requested one). */
    public static final Set<String> SUPPORTED_VERSIONS = Set.of("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.\\-]{1,15}");
    private static final Pattern NETNS = Pattern.compile("/[A-Za-z0-9_.:/@+=\\-]*");
    private static final Pattern CONTAINER_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.\\-]*");

    /**
     * @param needsNetns ADD and CHECK need a netns; DEL may come without one (the sandbox is already gone)
     */
    public static CniInvocation parse(CniRequest r, boolean needsNetns) throws CniFailure {
        JsonNode config;
        try {
            config = JSON.readTree(r.getNetworkConfiguration().toByteArray());
        } catch (IOException e) {
            throw new CniFailure(ErrorCode.DECODING_FAILURE, "network configuration is not valid JSON: " + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()));
        }
        if (config == null || !config.isObject()) {
            throw new CniFailure(ErrorCode.DECODING_FAILURE, "network configuration must be a JSON object");
        }
        String version = config.path("cniVersion").asText("");
        if (version.isEmpty()) {
            throw new CniFailure(ErrorCode.INVALID_NETWORK_CONFIG, "network configuration has no cniVersion");
        }
        if (!SUPPORTED_VERSIONS.contains(version)) {
            throw new CniFailure(ErrorCode.INCOMPATIBLE_CNI_VERSION, "unsupported cniVersion " + version,
                    "supported: " + String.join(", ", SUPPORTED_VERSIONS.stream().sorted().toList()));
        }
        String name = config.path("name").asText("");
        if (name.isEmpty()) {
            throw new CniFailure(ErrorCode.INVALID_NETWORK_CONFIG, "network configuration has no name");
        }
        if (!"weft".equals(config.path("type").asText(""))) {
            throw new CniFailure(ErrorCode.INVALID_NETWORK_CONFIG,
                    "network configuration type is '" + config.path("type").asText("") + "', expected 'weft'");
        }
        String containerId = r.getContainerId();
        if (containerId.isEmpty() || !CONTAINER_ID.matcher(containerId).matches()) {
            throw new CniFailure(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, "CNI_CONTAINERID is missing or malformed: '" + containerId + "'");
        }
        if (!IFNAME.matcher(r.getIfname()).matches()) {
            throw new CniFailure(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, "CNI_IFNAME is missing or not a valid interface name: '" + r.getIfname() + "'");
        }
        if (needsNetns && r.getNetns().isEmpty()) {
            throw new CniFailure(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, "CNI_NETNS is missing");
        }
        if (!r.getNetns().isEmpty() && !NETNS.matcher(r.getNetns()).matches()) {
            // It ends up in ip/nsenter invocations: an absolute path without blanks or control characters only.
            throw new CniFailure(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, "CNI_NETNS is not an absolute path: '" + r.getNetns() + "'");
        }
        Map<String, String> args = parseArgs(r.getArgs());
        String ns = args.getOrDefault("K8S_POD_NAMESPACE", "");
        String pod = args.getOrDefault("K8S_POD_NAME", "");
        if (ns.isEmpty() || pod.isEmpty()) {
            // Not from a kubelet (e.g. cnitool): identify the attachment by its container.
            ns = ns.isEmpty() ? "_" : ns;
            pod = pod.isEmpty() ? containerId : pod;
        }
        return new CniInvocation(containerId, r.getNetns(), r.getIfname(), ns, pod, args.getOrDefault("K8S_POD_UID", ""),
                version, name, config);
    }

    /** CNI_ARGS: "K1=V1;K2=V2". */
    static Map<String, String> parseArgs(String args) throws CniFailure {
        Map<String, String> m = new LinkedHashMap<>();
        if (args == null || args.isBlank()) {
            return m;
        }
        for (String kv : args.split(";")) {
            if (kv.isBlank()) {
                continue;
            }
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new CniFailure(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, "CNI_ARGS is malformed near '" + kv + "'");
            }
            m.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
        }
        return m;
    }
}
