package dev.weft.agent.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weft.proto.cni.v1.ErrorCode;
import dev.weft.proto.cni.v1.GcRequest;

import java.io.IOException;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * A validated CNI GC request (CNI spec 1.1): the network configuration with {@code cni.dev/valid-attachments}, the
 * attachments the runtime still uses. One malformed entry rejects the whole request, so a bad list never releases
 * anything.
 */
public record GcInvocation(String cniVersion, Set<AttachmentId> valid) {

    public static final String VALID_ATTACHMENTS = "cni.dev/valid-attachments";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** How CNI identifies an attachment. */
    public record AttachmentId(String containerId, String ifName) {
    }

    public GcInvocation {
        valid = Set.copyOf(valid);
    }

    public static GcInvocation parse(GcRequest r) throws CniFailure {
        JsonNode config;
        try {
            config = JSON.readTree(r.getNetworkConfiguration().toByteArray());
        } catch (IOException e) {
            throw new CniFailure(ErrorCode.DECODING_FAILURE, "network configuration is not valid JSON: "
                    + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()));
        }
        if (config == null || !config.isObject()) {
            throw new CniFailure(ErrorCode.DECODING_FAILURE, "network configuration must be a JSON object");
        }
        String version = config.path("cniVersion").asText("");
        if (!CniInvocation.SUPPORTED_VERSIONS.contains(version)) {
            throw new CniFailure(ErrorCode.INCOMPATIBLE_CNI_VERSION, "unsupported cniVersion '" + version + "'",
                    "supported: " + String.join(", ", CniInvocation.SUPPORTED_VERSIONS.stream().sorted().toList()));
        }
        if (!"weft".equals(config.path("type").asText(""))) {
            throw new CniFailure(ErrorCode.INVALID_NETWORK_CONFIG,
                    "network configuration type is '" + config.path("type").asText("") + "', expected 'weft'");
        }
        JsonNode list = config.get(VALID_ATTACHMENTS);
        if (list == null || !list.isArray()) {
            throw new CniFailure(ErrorCode.INVALID_NETWORK_CONFIG, "GC needs " + VALID_ATTACHMENTS
                    + " (an array of {containerID, ifname}) in the network configuration; nothing was released");
        }
        Set<AttachmentId> valid = new LinkedHashSet<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode a = list.get(i);
            JsonNode cid = a.get("containerID");
            JsonNode ifn = a.get("ifname");
            if (!a.isObject() || cid == null || !cid.isTextual() || cid.asText().isEmpty() || ifn == null
                    || !ifn.isTextual() || ifn.asText().isEmpty()) {
                throw new CniFailure(ErrorCode.INVALID_NETWORK_CONFIG, VALID_ATTACHMENTS + "[" + i + "] must be "
                        + "{\"containerID\": string, \"ifname\": string}, got " + a + "; nothing was released");
            }
            valid.add(new AttachmentId(cid.asText(), ifn.asText()));
        }
        return new GcInvocation(version, valid);
    }
}
