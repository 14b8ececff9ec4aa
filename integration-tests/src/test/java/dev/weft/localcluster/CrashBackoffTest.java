package dev.weft.localcluster;

import dev.weft.localcluster.PodmanKubelet.CrashBackoff;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The podman kubelet's CrashLoopBackOff: the first restart at once, then 10 s doubling to 5 min, reset after 10 min. */
class CrashBackoffTest {

    @Test
    void backOffDoublesUpToFiveMinutesAndIsForgottenAfterTenQuietMinutes() {
        CrashBackoff b = CrashBackoff.next(null, 1_000);
        assertEquals(10_000, b.delayMs());
        assertTrue(b.waiting(1_000 + 9_999));
        assertFalse(b.waiting(1_000 + 10_000), "an exit after the back-off restarts at once");
        long t = 1_000;
        long[] expected = {20_000, 40_000, 80_000, 160_000, 300_000, 300_000};
        for (long delay : expected) {
            t += b.delayMs();
            b = CrashBackoff.next(b, t);
            assertEquals(delay, b.delayMs());
        }
        b = CrashBackoff.next(b, t + 600_001);
        assertEquals(10_000, b.delayMs(), "ten minutes without a crash start over");
    }
}
