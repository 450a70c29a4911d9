/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pure parts of common/vfio.c. */
#include "test.h"

#include "common/hostuse.h"
#include "common/vfio.h"

#include <errno.h>

TEST(vfio_origin_round_trips_driver_and_override)
{
        char buf[160], drv[64], ovr[64];
        CHECK_INT(vfio_origin_encode("snd_hda_intel", "snd_hda_intel", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "snd_hda_intel/snd_hda_intel");
        CHECK_INT(vfio_origin_decode(buf, drv, sizeof(drv), ovr, sizeof(ovr)), 0);
        CHECK_STR(drv, "snd_hda_intel");
        CHECK_STR(ovr, "snd_hda_intel");
        CHECK_INT(vfio_origin_encode("", "", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "/");
        CHECK_INT(vfio_origin_decode(buf, drv, sizeof(drv), ovr, sizeof(ovr)), 0);
        CHECK_STR(drv, "");
        CHECK_STR(ovr, "");
}

TEST(vfio_origin_rejects_what_is_not_a_driver)
{
        char drv[64], ovr[64];
        CHECK_INT(vfio_origin_decode("nvidia", drv, sizeof(drv), ovr, sizeof(ovr)), -EINVAL);
        CHECK_INT(vfio_origin_decode("../x/", drv, sizeof(drv), ovr, sizeof(ovr)), -EINVAL);
        CHECK_INT(vfio_origin_decode(".hidden/", drv, sizeof(drv), ovr, sizeof(ovr)), -EINVAL);
}

/* reset-method against what the device's reset_method lists */
TEST(vfio_reset_method_check_takes_only_what_the_device_offers)
{
        char why[320] = "";
        CHECK_INT(vfio_reset_method_check("bus", "flr bus", why, sizeof(why)), 0);
        CHECK_INT(vfio_reset_method_check("bus flr", "flr bus", why, sizeof(why)), 0); /* another order */
        CHECK_INT(vfio_reset_method_check("device_specific", "device_specific flr pm bus\n", why, sizeof(why)), 0);
        CHECK_INT(vfio_reset_method_check("default", "flr", why, sizeof(why)), 0);
        CHECK_INT(vfio_reset_method_check("default", "", why, sizeof(why)), 0); /* every method back */

        CHECK_INT(vfio_reset_method_check("pm flr", "flr bus", why, sizeof(why)), -EINVAL);
        CHECK_STR(why, "the device does not offer pm; its reset_method lists flr bus");
        CHECK_INT(vfio_reset_method_check("fl", "flr bus", why, sizeof(why)), -EINVAL); /* whole names only */
        CHECK_STR(why, "the device does not offer fl; its reset_method lists flr bus");
        CHECK_INT(vfio_reset_method_check("flr", "", why, sizeof(why)), -EINVAL);
        CHECK_STR(why, "the device does not offer flr; its reset_method lists none (every method turned off)");
        CHECK_INT(vfio_reset_method_check("flr bus flr", "flr bus", why, sizeof(why)), -EINVAL);
        CHECK_STR(why, "it names flr twice");
        CHECK_INT(vfio_reset_method_check("flr default", "flr bus", why, sizeof(why)), -EINVAL);
        CHECK_CONTAINS(why, "'default' stands alone");
}

static const char route[] =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eno1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "eno1\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
        "eno2\t000010AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

TEST(hostuse_route_finds_default_route_and_host_addresses)
{
        char why[160];
        CHECK(hostuse_route_uses(route, "eno1", why, sizeof(why)));
        CHECK_STR(why, "it carries the default route");
        CHECK(hostuse_route_uses(route, "eno2", why, sizeof(why)));
        CHECK_STR(why, "it has a host address (route to 172.16.0.0/16)");
        CHECK(!hostuse_route_uses(route, "enp67s0f0", why, sizeof(why)));
        CHECK(!hostuse_route_uses(route, "eno", why, sizeof(why)));
}

TEST(hostuse_inet6_ignores_link_local)
{
        static const char text[] = "fe80000000000000022590fffe0b1c2d 02 40 20 80     eno3\n"
                                   "20010db8000000000000000000000001 03 40 00 80     eno4\n";
        char why[160];
        CHECK(!hostuse_inet6_uses(text, "eno3", why, sizeof(why)));
        CHECK(hostuse_inet6_uses(text, "eno4", why, sizeof(why)));
        CHECK_STR(why, "it has the host address 2001:0db8:0000:0000::/64");
}

#include "common/netvf.h"

TEST(netvf_format_and_parse_round_trip)
{
        VfConfig c, d;
        char buf[160], back[160];
        CHECK_INT(netvf_parse("mac=52:54:00:6d:90:02 vlan=100 qos=3 trust=on spoofchk=off", &c), 0);
        CHECK(c.has_mac && c.has_vlan);
        CHECK_INT(c.vlan, 100);
        CHECK_INT(c.qos, 3);
        CHECK_INT(c.trust, 1);
        CHECK_INT(c.spoofchk, 0);
        CHECK_INT(netvf_format(&c, buf, sizeof(buf)), 0);
        CHECK_STR(buf, "mac=52:54:00:6d:90:02 vlan=100 qos=3 trust=on spoofchk=off");
        CHECK_INT(netvf_parse("trust=off", &d), 0);
        CHECK(!d.has_mac && !d.has_vlan);
        CHECK_INT(d.spoofchk, -1);
        CHECK_INT(netvf_format(&d, back, sizeof(back)), 0);
        CHECK_STR(back, "trust=off");
        CHECK_INT(netvf_parse("mac=52:54:00:6d:90", &d), -EINVAL);
        CHECK_INT(netvf_parse("vlan=4096", &d), -EINVAL);
        CHECK_INT(netvf_parse("trust=yes", &d), -EINVAL);
        CHECK_INT(netvf_parse("speed=10", &d), -EINVAL);
}

TEST(netvf_validate_refuses_what_the_kernel_would_take)
{
        VfConfig c = { .trust = -1, .spoofchk = -1 };
        char err[160];
        c.has_vlan = true;
        c.vlan = 4095;
        CHECK_INT(netvf_validate(&c, err, sizeof(err)), -EINVAL);
        CHECK_CONTAINS(err, "vlan='4095'");
        c.vlan = 0;
        c.qos = 2;
        CHECK_INT(netvf_validate(&c, err, sizeof(err)), -EINVAL);
        c.vlan = 4094;
        CHECK_INT(netvf_validate(&c, err, sizeof(err)), 0);
        VfConfig m = { .has_mac = true, .mac = { 0x01, 0, 0x5e, 0, 0, 1 }, .trust = -1, .spoofchk = -1 };
        CHECK_INT(netvf_validate(&m, err, sizeof(err)), -EINVAL);
        CHECK_CONTAINS(err, "multicast");
}
