/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vmprep profile: the <vmprep:profile> element (namespace urn:vmprep:1)
 * in a domain's <metadata>, optionally based on a named profile (use=) that
 * it overrides attribute by attribute.  Named profiles are looked up in
 * /etc/vmprep/profiles (the administrator's) before the shipped ones.
 *
 * The profile is validated in full before any hook acts on it: unknown
 * elements or attributes and every bad value are errors that name the
 * element, the attribute and the value.  profiles/profile.rng is the same
 * grammar for xmllint.
 */
#pragma once

#include "domain.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PROFILE_NS "urn:vmprep:1"

typedef struct ProfileAttr {
        char *name;
        char *value;
} ProfileAttr;

typedef struct ProfileElem {
        char *name;
        ProfileAttr *attrs;
        size_t n_attrs;
        struct ProfileElem *children;
        size_t n_children;
} ProfileElem;

typedef struct Profile {
        char *use;          /* named profile it is based on, or NULL */
        ProfileElem *elems; /* top-level elements after the merge */
        size_t n_elems;
} Profile;

/* Directory of the shipped profiles (compiled in; tests may override). */
void profile_set_shipped_dir(const char *dir);

/*
 * The effective profile of a domain: its metadata element merged over the
 * named profile it uses.  *ret is NULL (and 0 returned) when the domain
 * has no vmprep profile.  Errors: -EINVAL with a sentence in err.
 */
int profile_from_domain(const Domain *d, Profile **ret, char *err, size_t errlen);

/* Parse and validate a standalone profile document (a named profile file,
 * or the argument of `vmprep tag`).  origin names it in messages. */
int profile_parse_document(const char *xml, size_t len, const char *origin, Profile **ret, char *err,
                           size_t errlen);

/* Load a named profile (no merge). */
int profile_load_named(const char *name, Profile **ret, char *err, size_t errlen);

void profile_free(Profile *p);

/*
 * Is ELEMENT.ATTR something `vmprep tag` may set: a top-level element that
 * appears once and one of its attributes?  Names only (values are checked
 * when the profile is parsed); -EINVAL with a sentence naming both otherwise.
 */
int profile_check_override(const char *elem, const char *attr, char *err, size_t errlen);

/* First top-level element of that name, or NULL. */
const ProfileElem *profile_elem(const Profile *p, const char *name);
/* Present, and not enabled="no". */
bool profile_enabled(const Profile *p, const char *name);
/* This element is not enabled="no" (for elements that may repeat, like sriov). */
bool profile_elem_enabled(const ProfileElem *e);
/* Some top-level element of that name is enabled. */
bool profile_any_enabled(const Profile *p, const char *name);
/* Attribute value or NULL. */
const char *profile_attr(const ProfileElem *e, const char *name);
/* Attribute as yes/no with a default (validated values only). */
bool profile_attr_yes(const ProfileElem *e, const char *name, bool def);

/* Write the profile as an XML element (for `vmprep show`). */
void profile_print(const Profile *p, FILE *f);
