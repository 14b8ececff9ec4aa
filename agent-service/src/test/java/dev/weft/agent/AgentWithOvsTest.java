package dev.weft.agent;

import dev.weft.agent.ovsdb.OvsdbProbe;
import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The readiness probe against a real ovsdb-server, and after it is gone. */
class AgentWithOvsTest {

    @Test
    void probeSeesARealOvsdbServerAndNoticesItsDeath() throws Exception {
        Duration t = Duration.ofSeconds(2);
        try (OvsSandbox ovs = OvsSandbox.start()) {
            assertNull(OvsdbProbe.check(ovs.dbSocket(), t));
            assertEquals("", ovs.vsctl("list-ports", ovs.bridge).trim());
            ovs.close();
            assertNotNull(OvsdbProbe.check(ovs.dbSocket(), t));
        }
    }
}
