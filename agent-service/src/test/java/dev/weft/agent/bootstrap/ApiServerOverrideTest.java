package dev.weft.agent.bootstrap;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiServerOverrideTest {

    @Test
    void acceptsAnApiServerUrl() {
        assertEquals("https://192.168.1.10:6443", ApiServerOverride.validate("https://192.168.1.10:6443"));
        assertEquals("https://[fd00::10]:6443", ApiServerOverride.validate("https://[fd00::10]:6443"));
        assertEquals("http://127.0.0.1:8080/k8s", ApiServerOverride.validate("http://127.0.0.1:8080/k8s"));
    }

    @Test
    void rejectsWhatIsNoApiServerUrlNamingTheKey() {
        for (String bad : new String[] {"192.168.1.10:6443", "ftp://h:1", "https://", "https://h:6443?x=1", "https://u@h:1", "https://h:6443 x"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ApiServerOverride.validate(bad), bad);
            assertTrue(e.getMessage().startsWith("agent.kube-api-server-override=" + bad), e.getMessage());
        }
    }

    @Test
    void replacesTheMasterUrlAndKeepsTheCredentials() {
        Config config = new ConfigBuilder(Config.empty()).withMasterUrl("https://10.96.0.1:443").withOauthToken("token").build();
        ApiServerOverride override = new ApiServerOverride(Optional.of(" https://192.168.1.10:6443 "));
        override.customize(config);
        assertEquals("https://192.168.1.10:6443/", config.getMasterUrl());
        assertEquals("token", config.getOauthToken());
    }

    @Test
    void withoutAnOverrideTheAutoConfiguredUrlStays() {
        Config config = new ConfigBuilder(Config.empty()).withMasterUrl("https://10.96.0.1:443").build();
        new ApiServerOverride(Optional.of("")).customize(config);
        assertEquals("https://10.96.0.1:443/", config.getMasterUrl());
    }
}
