/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Profiles: read from the domain and named files, merged, looked up (profile.h). */
#include "profile_impl.h"
#include "log.h"

static const char *shipped_dir = VMPREP_PROFILEDIR;

void profile_set_shipped_dir(const char *dir) { shipped_dir = dir; }

/* ---- names and keys ---- */

/* A named profile's name, as the schema has it: [a-z0-9][a-z0-9_-]{0,63}. */
static bool profile_name_valid(const char *s)
{
        size_t n = 0;
        if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
                return false;
        for (; *s; s++, n++)
                if (n >= 64 || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
                        return false;
        return true;
}

/* A key value in canonical form so that "03:00.0" and "0000:03:00.0" match. */
static void canonical_key(const ElemSpec *spec, const char *v, char *out, size_t size)
{
        PciAddress pci;
        if (spec->key && strcmp(spec->key, "address") == 0 && pci_address_parse(v, &pci) == 0) {
                char buf[PCI_ADDRESS_STRLEN];
                pci_address_format(&pci, buf);
                snprintf(out, size, "%s", buf);
        } else if (spec->key && strcmp(spec->key, "pf") == 0 && pci_address_parse(v, &pci) == 0) {
                char buf[PCI_ADDRESS_STRLEN];
                pci_address_format(&pci, buf);
                snprintf(out, size, "%s", buf);
        } else if (spec->key && strcmp(spec->key, "index") == 0) {
                uint64_t u;
                if (parse_u64(v, 0, UINT64_MAX, &u) == 0)
                        snprintf(out, size, "%llu", (unsigned long long) u);
                else
                        snprintf(out, size, "%s", v);
        } else {
                snprintf(out, size, "%s", v ? v : "");
        }
}

/* ---- the element tree ---- */

static void elem_clear(ProfileElem *e)
{
        for (size_t i = 0; i < e->n_attrs; i++) {
                free(e->attrs[i].name);
                free(e->attrs[i].value);
        }
        free(e->attrs);
        for (size_t i = 0; i < e->n_children; i++)
                elem_clear(&e->children[i]);
        free(e->children);
        free(e->name);
        memset(e, 0, sizeof(*e));
}

void profile_free(Profile *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n_elems; i++)
                elem_clear(&p->elems[i]);
        free(p->elems);
        free(p->use);
        free(p);
}

static ProfileElem *elem_append(ProfileElem **arr, size_t *n)
{
        ProfileElem *a = realloc(*arr, (*n + 1) * sizeof(**arr));
        if (!a)
                return NULL;
        *arr = a;
        memset(&a[*n], 0, sizeof(a[*n]));
        return &a[(*n)++];
}

static int elem_set_attr(ProfileElem *e, const char *name, const char *value)
{
        for (size_t i = 0; i < e->n_attrs; i++)
                if (strcmp(e->attrs[i].name, name) == 0) {
                        char *v = strdup(value);
                        if (!v)
                                return -ENOMEM;
                        free(e->attrs[i].value);
                        e->attrs[i].value = v;
                        return 0;
                }
        ProfileAttr *a = realloc(e->attrs, (e->n_attrs + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        e->attrs = a;
        a[e->n_attrs].name = strdup(name);
        a[e->n_attrs].value = strdup(value);
        if (!a[e->n_attrs].name || !a[e->n_attrs].value) {
                free(a[e->n_attrs].name);
                free(a[e->n_attrs].value);
                return -ENOMEM;
        }
        e->n_attrs++;
        return 0;
}

const char *profile_attr(const ProfileElem *e, const char *name)
{
        if (!e)
                return NULL;
        for (size_t i = 0; i < e->n_attrs; i++)
                if (strcmp(e->attrs[i].name, name) == 0)
                        return e->attrs[i].value;
        return NULL;
}

bool profile_attr_yes(const ProfileElem *e, const char *name, bool def)
{
        const char *v = profile_attr(e, name);
        bool b;
        if (!v || parse_yesno(v, &b) < 0)
                return def;
        return b;
}

int profile_check_override(const char *elem, const char *attr, char *err, size_t errlen)
{
        char names[128] = "";
        for (const ElemSpec *e = profile_top_elems; e->name; e++) {
                if (e->multiple)
                        continue;
                snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", names[0] ? ", " : "",
                         e->name);
        }
        for (const ElemSpec *e = profile_top_elems; e->name; e++) {
                if (strcmp(e->name, elem) != 0)
                        continue;
                if (e->multiple) {
                        snprintf(err, errlen,
                                 "<%s> may appear more than once, so %s.%s cannot say which: write it into "
                                 "the domain's <metadata> by hand (virsh edit); tag keeps it",
                                 elem, elem, attr);
                        return -EINVAL;
                }
                char attrs[256] = "";
                for (const AttrSpec *a = e->attrs; a->name; a++) {
                        if (strcmp(a->name, attr) == 0)
                                return 0;
                        snprintf(attrs + strlen(attrs), sizeof(attrs) - strlen(attrs), "%s%s",
                                 attrs[0] ? ", " : "", a->name);
                }
                snprintf(err, errlen, "<%s> has no attribute '%s' (it has %s)", elem, attr, attrs);
                return -EINVAL;
        }
        snprintf(err, errlen, "'%s' is not a profile element (%s)", elem, names);
        return -EINVAL;
}

const ProfileElem *profile_elem(const Profile *p, const char *name)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_elems; i++)
                if (strcmp(p->elems[i].name, name) == 0)
                        return &p->elems[i];
        return NULL;
}

bool profile_enabled(const Profile *p, const char *name)
{
        const ProfileElem *e = profile_elem(p, name);
        return e && profile_attr_yes(e, "enabled", true);
}

bool profile_elem_enabled(const ProfileElem *e) { return e && profile_attr_yes(e, "enabled", true); }

bool profile_any_enabled(const Profile *p, const char *name)
{
        for (size_t i = 0; p && i < p->n_elems; i++)
                if (strcmp(p->elems[i].name, name) == 0 && profile_elem_enabled(&p->elems[i]))
                        return true;
        return false;
}

static bool in_ns(xmlNodePtr n)
{
        return n->ns && n->ns->href && strcmp((const char *) n->ns->href, PROFILE_NS) == 0;
}

static const char *key_of(const ElemSpec *spec, const ProfileElem *e)
{
        const char *k = spec->key ? profile_attr(e, spec->key) : NULL;
        return !k && spec->key2 ? profile_attr(e, spec->key2) : k;
}

/* Read element `node` (already matched to `spec`) into `out`, checking
 * attributes, values and children. */
static int read_elem(Ctx *c, const ElemSpec *spec, xmlNodePtr node, ProfileElem *out)
{
        int r;

        out->name = strdup(spec->name);
        if (!out->name)
                return -ENOMEM;
        for (xmlAttrPtr a = node->properties; a; a = a->next) {
                const char *an = (const char *) a->name;
                const AttrSpec *as = NULL;

                if (a->ns)
                        return profile_fail(c, "<vmprep:%s>: attribute %s:%s is not part of the vmprep profile", spec->name,
                                    a->ns->prefix ? (const char *) a->ns->prefix : "", an);
                for (const AttrSpec *s = spec->attrs; s->name; s++)
                        if (strcmp(s->name, an) == 0)
                                as = s;
                if (!as)
                        return profile_fail(c, "<vmprep:%s>: unknown attribute %s", spec->name, an);
                _cleanup_xmlstr_ char *v = xml_attr(node, an);
                if (!v)
                        return -ENOMEM;
                r = profile_check_value(c, spec->name, as, v);
                if (r < 0)
                        return r;
                r = elem_set_attr(out, an, v);
                if (r < 0)
                        return r;
        }
        for (const AttrSpec *s = spec->attrs; s->name; s++)
                if (s->required && !profile_attr(out, s->name))
                        return profile_fail(c, "<vmprep:%s>: the %s attribute is required", spec->name, s->name);
        if (spec->key2 && !profile_attr(out, spec->key) == !profile_attr(out, spec->key2))
                return profile_fail(c, "<vmprep:%s>: give %s= or %s=, one of them", spec->name, spec->key, spec->key2);

        for (xmlNodePtr ch = node->children; ch; ch = ch->next) {
                if (ch->type == XML_COMMENT_NODE || ch->type == XML_PI_NODE)
                        continue;
                if (ch->type == XML_TEXT_NODE || ch->type == XML_CDATA_SECTION_NODE) {
                        for (const xmlChar *t = ch->content; t && *t; t++)
                                if (*t != ' ' && *t != '\t' && *t != '\n' && *t != '\r')
                                        return profile_fail(c, "<vmprep:%s>: text is not allowed inside it", spec->name);
                        continue;
                }
                if (ch->type != XML_ELEMENT_NODE)
                        return profile_fail(c, "<vmprep:%s>: unexpected content (entity or other node)", spec->name);
                const ElemSpec *cs = NULL;
                if (in_ns(ch) && spec->children)
                        for (const ElemSpec *s = spec->children; s->name; s++)
                                if (strcmp(s->name, (const char *) ch->name) == 0)
                                        cs = s;
                if (!cs)
                        return profile_fail(c, "<vmprep:%s>: unknown element <%s%s%s>%s", spec->name,
                                    ch->ns && ch->ns->prefix ? (const char *) ch->ns->prefix : "",
                                    ch->ns && ch->ns->prefix ? ":" : "", (const char *) ch->name,
                                    in_ns(ch) ? "" : " (elements must be in namespace " PROFILE_NS ")");
                ProfileElem *e = elem_append(&out->children, &out->n_children);
                if (!e)
                        return -ENOMEM;
                r = read_elem(c, cs, ch, e);
                if (r < 0)
                        return r;
                /* duplicates among siblings */
                for (size_t i = 0; i + 1 < out->n_children; i++) {
                        if (strcmp(out->children[i].name, e->name) != 0)
                                continue;
                        char k1[128], k2[128];
                        canonical_key(cs, key_of(cs, &out->children[i]), k1, sizeof(k1));
                        canonical_key(cs, key_of(cs, e), k2, sizeof(k2));
                        if (!cs->multiple || strcmp(k1, k2) == 0)
                                return profile_fail(c, "<vmprep:%s%s%s%s%s> appears twice in <vmprep:%s>", cs->name,
                                            cs->key ? " " : "",
                                            cs->key2 && !profile_attr(e, cs->key) ? cs->key2 : cs->key ? cs->key : "",
                                            cs->key ? "=" : "", cs->key ? k2 : "", spec->name);
                }
        }
        return 0;
}

static const ElemSpec root_spec = { "profile", NULL, false, NULL, profile_top_elems, NULL };

/* Read a <vmprep:profile> element into a new Profile (no merge). */
static int read_profile(Ctx *c, xmlNodePtr root, Profile **ret)
{
        static const AttrSpec no_attrs[] = { { NULL, 0, NULL, 0, 0, false } };
        Profile *p;
        ProfileElem tmp = { 0 };
        char *use = NULL;
        int r;

        if (!in_ns(root) || strcmp((const char *) root->name, "profile") != 0)
                return profile_fail(c, "the vmprep element must be <vmprep:profile xmlns:vmprep=\"%s\">, not <%s>",
                            PROFILE_NS, (const char *) root->name);
        /* use= is the one attribute of the root; read_elem sees none. */
        for (xmlAttrPtr a = root->properties; a; a = a->next) {
                if (a->ns || strcmp((const char *) a->name, "use") != 0) {
                        free(use); /* use="..." before an unknown attribute (found by fuzz_profile) */
                        return profile_fail(c, "<vmprep:profile>: unknown attribute %s", (const char *) a->name);
                }
                if (use)
                        continue;
                use = xml_attr(root, "use");
                if (!use)
                        return -ENOMEM;
                if (!profile_name_valid(use)) {
                        r = profile_fail(c, "<vmprep:profile use='%s'>: not a profile name (lowercase letters, digits, - and _)",
                                 use);
                        free(use);
                        return r;
                }
        }
        ElemSpec spec = root_spec;
        spec.attrs = no_attrs;
        xmlAttrPtr saved = root->properties;
        root->properties = NULL; /* checked above */
        r = read_elem(c, &spec, root, &tmp);
        root->properties = saved;
        if (r < 0) {
                free(use);
                elem_clear(&tmp);
                return r;
        }
        p = calloc(1, sizeof(*p));
        if (!p) {
                free(use);
                elem_clear(&tmp);
                return -ENOMEM;
        }
        p->use = use;
        p->elems = tmp.children;
        p->n_elems = tmp.n_children;
        free(tmp.name);
        *ret = p;
        return 0;
}

int profile_parse_document(const char *xml, size_t len, const char *origin, Profile **ret, char *err,
                           size_t errlen)
{
        Ctx c = { origin, err, errlen };
        char perr[512];
        xmlDocPtr doc = xml_parse(xml, len, origin, perr, sizeof(perr));
        int r;

        if (!doc) {
                snprintf(err, errlen, "%s", perr);
                return -EINVAL;
        }
        if (errlen)
                err[0] = '\0';
        r = read_profile(&c, xmlDocGetRootElement(doc), ret);
        xmlFreeDoc(doc);
        return fail_errno(err, errlen, r);
}

static int load_file(const char *path, bool through_gateway, char **ret, size_t *len)
{
        if (through_gateway)
                return sysfs_read_alloc(path, PROFILE_MAX_BYTES, ret, len);
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char *buf = malloc(PROFILE_MAX_BYTES + 1);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        size_t n = fread(buf, 1, PROFILE_MAX_BYTES + 1, f);
        int bad = ferror(f);
        fclose(f);
        if (bad || n > PROFILE_MAX_BYTES) {
                free(buf);
                return bad ? -EIO : -EFBIG;
        }
        buf[n] = '\0';
        *ret = buf;
        *len = n;
        return 0;
}

int profile_load_named(const char *name, Profile **ret, char *err, size_t errlen)
{
        char path[SYSFS_PATH_MAX];
        char *buf = NULL;
        size_t len = 0;
        int r;

        if (!profile_name_valid(name)) {
                snprintf(err, errlen, "'%s' is not a profile name", name);
                return -EINVAL;
        }
        snprintf(path, sizeof(path), PROFILE_ETCDIR "/%s.xml", name);
        r = load_file(path, true, &buf, &len);
        if (r == -ENOENT) {
                snprintf(path, sizeof(path), "%s/%s.xml", shipped_dir, name);
                r = load_file(path, false, &buf, &len);
        }
        if (r == -ENOENT) {
                snprintf(err, errlen, "<vmprep:profile use='%s'>: there is no profile '%s' (looked in " PROFILE_ETCDIR
                         " and %s)", name, name, shipped_dir);
                return -EINVAL;
        }
        if (r < 0) {
                snprintf(err, errlen, "cannot read profile %s: %s", path, strerror(-r));
                return r;
        }
        char origin[SYSFS_PATH_MAX + 32];
        snprintf(origin, sizeof(origin), "profile '%s' (%s)", name, path);
        r = profile_parse_document(buf, len, origin, ret, err, errlen);
        free(buf);
        if (r == 0 && (*ret)->use) {
                snprintf(err, errlen, "%s: a named profile cannot itself use another (use='%s')", origin, (*ret)->use);
                profile_free(*ret);
                *ret = NULL;
                return -EINVAL;
        }
        return r;
}

/* Merge src's attributes and children over dst (same element). */
static int merge_elem(const ElemSpec *spec, ProfileElem *dst, const ProfileElem *src)
{
        int r;

        for (size_t i = 0; i < src->n_attrs; i++) {
                r = elem_set_attr(dst, src->attrs[i].name, src->attrs[i].value);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < src->n_children; i++) {
                const ProfileElem *s = &src->children[i];
                const ElemSpec *cs = NULL;
                for (const ElemSpec *x = spec->children; x && x->name; x++)
                        if (strcmp(x->name, s->name) == 0)
                                cs = x;
                if (!cs)
                        return -EINVAL;
                ProfileElem *d = NULL;
                char k1[128], k2[128];
                canonical_key(cs, key_of(cs, s), k1, sizeof(k1));
                for (size_t j = 0; j < dst->n_children; j++) {
                        if (strcmp(dst->children[j].name, s->name) != 0)
                                continue;
                        canonical_key(cs, key_of(cs, &dst->children[j]), k2, sizeof(k2));
                        if (!cs->multiple || strcmp(k1, k2) == 0)
                                d = &dst->children[j];
                }
                if (!d) {
                        d = elem_append(&dst->children, &dst->n_children);
                        if (!d)
                                return -ENOMEM;
                        d->name = strdup(s->name);
                        if (!d->name)
                                return -ENOMEM;
                }
                r = merge_elem(cs, d, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Checks across attributes, after the merge. */
static int check_merged(Ctx *c, const Profile *p)
{
        for (size_t i = 0; i < p->n_elems; i++) {
                const ProfileElem *e = &p->elems[i];
                if (strcmp(e->name, "sriov") != 0)
                        continue;
                const char *vfs = profile_attr(e, "vfs");
                uint64_t n;
                if (!vfs || parse_u64(vfs, 0, UINT64_MAX, &n) < 0)
                        continue;
                for (size_t j = 0; j < e->n_children; j++) {
                        const char *idx = profile_attr(&e->children[j], "index");
                        uint64_t k;
                        if (idx && parse_u64(idx, 0, UINT64_MAX, &k) == 0 && k >= n)
                                return profile_fail(c, "<vmprep:vf index='%s'>: the PF %s gets only %s VFs (0-%llu)", idx,
                                            profile_attr(e, "pf"), vfs, (unsigned long long) (n ? n - 1 : 0));
                }
        }
        return 0;
}

int profile_from_domain(const Domain *d, Profile **ret, char *err, size_t errlen)
{
        Ctx c = { "domain <metadata>", err, errlen };
        xmlXPathContextPtr ctx = xmlXPathNewContext(d->doc);
        Profile *own = NULL, *base = NULL;
        int r;

        *ret = NULL;
        if (errlen)
                err[0] = '\0';
        if (!ctx)
                return fail_errno(err, errlen, -ENOMEM);
        xmlXPathObjectPtr obj = xml_xpath(ctx, NULL, "/domain/metadata/*[namespace-uri()='" PROFILE_NS "']");
        size_t n = xml_count(obj);
        if (n == 0) {
                r = 0;
                goto out;
        }
        if (n > 1) {
                r = profile_fail(&c, "%zu elements in namespace " PROFILE_NS "; libvirt keeps one per namespace: "
                         "put everything inside one <vmprep:profile>", n);
                goto out;
        }
        r = read_profile(&c, xml_item(obj, 0), &own);
        if (r < 0)
                goto out;
        if (own->use) {
                r = profile_load_named(own->use, &base, err, errlen);
                if (r < 0)
                        goto out;
                /* The merge: the domain's elements over the named profile's. */
                for (size_t i = 0; i < own->n_elems; i++) {
                        const ProfileElem *s = &own->elems[i];
                        const ElemSpec *spec = NULL;
                        for (const ElemSpec *x = profile_top_elems; x->name; x++)
                                if (strcmp(x->name, s->name) == 0)
                                        spec = x;
                        ProfileElem *dst = NULL;
                        char k1[128], k2[128];
                        canonical_key(spec, key_of(spec, s), k1, sizeof(k1));
                        for (size_t j = 0; j < base->n_elems; j++) {
                                if (strcmp(base->elems[j].name, s->name) != 0)
                                        continue;
                                canonical_key(spec, key_of(spec, &base->elems[j]), k2, sizeof(k2));
                                if (!spec->multiple || strcmp(k1, k2) == 0)
                                        dst = &base->elems[j];
                        }
                        if (!dst) {
                                dst = elem_append(&base->elems, &base->n_elems);
                                if (!dst || !(dst->name = strdup(s->name))) {
                                        r = -ENOMEM;
                                        goto out;
                                }
                        }
                        r = merge_elem(spec, dst, s);
                        if (r < 0)
                                goto out;
                }
                base->use = own->use;
                own->use = NULL;
                profile_free(own);
                own = base;
                base = NULL;
        }
        r = check_merged(&c, own);
        if (r < 0)
                goto out;
        *ret = own;
        own = NULL;
out:
        profile_free(own);
        profile_free(base);
        xmlXPathFreeObject(obj);
        xmlXPathFreeContext(ctx);
        return fail_errno(err, errlen, r);
}

static void print_elem(const ProfileElem *e, FILE *f, int depth)
{
        fprintf(f, "%*s<vmprep:%s", depth * 2, "", e->name);
        for (size_t i = 0; i < e->n_attrs; i++)
                fprintf(f, " %s=\"%s\"", e->attrs[i].name, e->attrs[i].value);
        if (!e->n_children) {
                fprintf(f, "/>\n");
                return;
        }
        fprintf(f, ">\n");
        for (size_t i = 0; i < e->n_children; i++)
                print_elem(&e->children[i], f, depth + 1);
        fprintf(f, "%*s</vmprep:%s>\n", depth * 2, "", e->name);
}

void profile_print(const Profile *p, FILE *f)
{
        fprintf(f, "<vmprep:profile xmlns:vmprep=\"" PROFILE_NS "\"");
        if (p->use)
                fprintf(f, " use=\"%s\"", p->use);
        fprintf(f, ">\n");
        for (size_t i = 0; i < p->n_elems; i++)
                print_elem(&p->elems[i], f, 1);
        fprintf(f, "</vmprep:profile>\n");
}
