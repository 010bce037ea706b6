// Package meta filters and sorts documents by their metadata.
//
// A Table holds the metadata of every document of an index by ordinal, in
// columns: for each field, the documents that have it and their values, with
// strings dictionary-coded. Table.Match evaluates filters into a Bitmap, one
// bit per ordinal (bit i of word i/64), which the search kernels read as
// words to skip documents before scoring; Table.Sort orders ordinals by a
// field.
//
// # Fields and values
//
// Each top-level field of a document's metadata is a column, and so is each
// field one object level down, under a dotted name: "config.model_type",
// and for an array of objects, the array of their fields:
// "siblings.rfilename" holds every file name of the model. Deeper objects
// are not indexed. A field's value for a document is a list of scalars: one
// for a scalar, the elements for an array (nested arrays flattened, nulls
// dropped), none for null or a missing field. The scalars are:
//
//   - numbers (json.Number, Go ints and floats), compared as float64: exact
//     for integers up to 2^53;
//   - strings, compared byte-wise (case-sensitive);
//   - booleans, which behave as the strings "true" and "false";
//   - dates: strings that ParseTime accepts (ISO 8601, as "lastModified"
//     is written) are also dates, compared as instants to the nanosecond;
//     time.Time values are dates only.
//
// # Filters
//
// ParseFilter reads FIELD=V1,V2 (any value), FIELD!=V1,V2 (none of them),
// and FIELD>=V, >, <, <= with one number or date. A value with a comma,
// quote or leading or trailing space is written in double quotes, with \"
// and \\ escapes: name="a,b". "task" means "pipeline_tag". Several filters
// combine with AND.
//
// A document matches FIELD=V when one of its values equals one of the
// filter's values: a string value that is the same string, or a date the
// same instant; a number value numerically equal (likes=12 matches 12 and
// 12.0). FIELD!=V is its negation over documents that have the field: it
// matches a document whose values include none of V, including an empty
// array. Comparisons match when one of the values compares true: a number
// filter value is compared with the field's numbers, a date with its dates.
//
// Nulls never match: a document with a null or missing field matches no
// filter on that field, != included (as in SQL). Mismatched types never
// match either: a number field does not equal a non-numeric string, a
// comparison with a number ignores string and date values, and a string
// "12" is not the number 12. Match itself never fails; Table.Check tells a
// caller when a filter names a field no document has or compares with a
// type the field never holds (likes>=2022-01-01, lastModified>2022), which is
// almost always a mistake.
//
// # Sort
//
// Table.Sort orders ordinals by one field, stably: numbers numerically, dates
// as instants, strings byte-wise, and documents without a value last, in both
// directions. A document with several values sorts by its smallest value
// ascending and its largest descending (as Elasticsearch's default sort
// mode). A field whose documents hold different kinds sorts numbers before
// dates before strings ascending, and the reverse descending; a document
// takes its first kind in that order.
package meta
