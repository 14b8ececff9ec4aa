package dev.weft.agent.pipeline;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Cookie categories keep their codes: flows already on switches (and the golden dump) depend on them. */
class CookieTest {

    @Test
    void categoryCodesAreTheOnesOnTheSwitches() {
        Map<Cookie.Category, Integer> codes = new LinkedHashMap<>();
        for (Cookie.Category c : Cookie.Category.values()) {
            codes.put(c, c.code());
        }
        assertEquals(Map.ofEntries(Map.entry(Cookie.Category.TRACEFLOW, 9)), Map.of(Cookie.Category.TRACEFLOW,
                codes.remove(Cookie.Category.TRACEFLOW)));
        assertEquals(10, codes.remove(Cookie.Category.DENIED_LOG));
        assertEquals(11, codes.remove(Cookie.Category.SERVICE_AFFINITY));
        assertEquals(Map.of(Cookie.Category.UNKNOWN, 0, Cookie.Category.PIPELINE, 1, Cookie.Category.GATEWAY, 2,
                Cookie.Category.POD, 3, Cookie.Category.PEER_NODE, 4, Cookie.Category.POLICY_RULE, 5,
                Cookie.Category.POLICY_ISOLATION, 6, Cookie.Category.SERVICE, 7, Cookie.Category.SERVICE_ENDPOINT, 8), codes);
    }

    @Test
    void aCookieRoundTripsAndAnUnknownCodeReadsAsUnknown() {
        Cookie c = new Cookie(7, Cookie.Category.POLICY_ISOLATION, 42);
        assertEquals(0x0007_0600_0000_002aL, c.value());
        assertEquals(c, Cookie.of(c.value()));
        assertEquals(Cookie.Category.POLICY_ISOLATION, Cookie.categoryOf(c.value()));
        assertEquals(Cookie.Category.UNKNOWN, Cookie.of(0x00ffL << 40).category());
        assertEquals(new Cookie(0, Cookie.Category.POD, 3), Cookie.of(Cookie.Category.POD, 3));
    }
}
