"""Bring-your-own tables: .csv / .tsv features, header detection, label columns, bad cells."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris

from ddc_tf.data import load_arrays
from ddc_tf.data.table import is_table_file, load_table


def _write(path, text):
    path.write_text(text)
    return path


def test_iris_as_a_user_exports_it_with_class_names(tmp_path):
    iris = load_iris()
    names = np.array(iris.target_names)[iris.target]
    lines = ["sepal length,sepal width,petal length,petal width,y"]
    lines += [",".join([*(repr(float(v)) for v in row), name]) for row, name in zip(iris.data, names)]
    data = load_arrays(_write(tmp_path / "iris.csv", "\n".join(lines) + "\n"))
    assert data.kind == "vector" and data.x.dtype == np.float32 and data.x.shape == (150, 4)
    np.testing.assert_allclose(data.x, iris.data, rtol=1e-6)
    assert data.class_names == ("setosa", "versicolor", "virginica")
    np.testing.assert_array_equal(data.y, iris.target)  # sorted names: the classes' own order here
    assert data.n_classes == 3 and data.name.endswith("iris.csv") and data.scale == 1.0


def test_no_header_no_labels_and_integer_labels_kept(tmp_path):
    data = load_table(_write(tmp_path / "a.csv", "1,2\n3.5,-4e-3\n"))
    np.testing.assert_allclose(data.x, [[1, 2], [3.5, -0.004]], rtol=1e-6)
    assert data.y is None and data.class_names is None
    data = load_table(_write(tmp_path / "b.csv", "a,y,b\n1,2,3\n4,0,6\n"))
    np.testing.assert_array_equal(data.y, [2, 0])
    np.testing.assert_allclose(data.x, [[1, 3], [4, 6]])
    assert data.class_names is None


def test_delimiters_quotes_blank_lines_bom_and_gzip(tmp_path):
    expected = [[1, 2], [3, 4]]
    np.testing.assert_allclose(load_table(_write(tmp_path / "t.tsv", "a\tb\n1\t2\n\n3\t4\n")).x, expected)
    np.testing.assert_allclose(load_table(_write(tmp_path / "s.csv", "a;b\n1;2\n3;4\n")).x, expected)
    np.testing.assert_allclose(load_table(_write(tmp_path / "q.csv", '"a","b"\n"1", "2"\n3,4\n')).x, expected)
    (tmp_path / "bom.csv").write_bytes("\ufeffa,b\n1,2\n3,4\n".encode("utf-8"))
    np.testing.assert_allclose(load_table(tmp_path / "bom.csv").x, expected)
    with gzip.open(tmp_path / "z.csv.gz", "wt") as f:
        f.write("a,b,y\n1,2,x\n3,4,z\n")
    data = load_arrays(tmp_path / "z.csv.gz")
    np.testing.assert_allclose(data.x, expected)
    assert data.class_names == ("x", "z")


def test_quoted_and_plain_tables_read_the_same(tmp_path):
    """A plain table goes through NumPy's parser, a quoted one through the csv module: one result."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    names = np.array(["b", "a", "c"])[rng.integers(0, 3, 40)]
    plain = "".join(f"{a!r},{n},{b!r},{c!r}\n" for (a, b, c), n in zip(x.tolist(), names))
    quoted = "".join(f'"{a!r}","{n}", {b!r},{c!r}\n' for (a, b, c), n in zip(x.tolist(), names))
    fast = load_table(_write(tmp_path / "p.csv", "u,y,v,w\n" + plain))
    slow = load_table(_write(tmp_path / "q.csv", "u,y,v,w\r\n" + quoted.replace("\n", "\r\n")))
    np.testing.assert_array_equal(fast.x, x)
    np.testing.assert_array_equal(slow.x, x)
    np.testing.assert_array_equal(fast.y, slow.y)
    assert fast.class_names == slow.class_names == ("a", "b", "c")


@pytest.mark.parametrize("column", ["y", "label", "Label", "labels", "class", "CLASS", "target"])
def test_the_usual_label_columns_are_labels_not_features(tmp_path, column):
    data = load_table(_write(tmp_path / "a.csv", f"pixel1,{column},pixel2\n0,9,255\n1,0,3\n"))
    np.testing.assert_array_equal(data.y, [9, 0])
    np.testing.assert_array_equal(data.x, [[0, 255], [1, 3]])


def test_another_label_column_and_none(tmp_path):
    path = _write(tmp_path / "a.csv", "f,species\n1,cat\n2,dog\n")
    data = load_table(path, label_column="species")
    np.testing.assert_array_equal(data.y, [0, 1])
    assert data.load_options == {"label_column": ["species"]}  # data.json's record: new tables read alike
    assert load_table(path, **data.load_options).feature_names == ("f",)
    assert load_table(_write(tmp_path / "new.csv", "f\n5\n"), **data.load_options).y is None  # the column may go
    assert load_table(_write(tmp_path / "c.csv", "f,y\n1,2\n")).load_options is None  # the default: nothing to record
    with pytest.raises(ValueError, match=r"data row 1 \(line 2\), column 'species': 'cat' is not a number.*name it y"):
        load_table(path)  # no column of LABEL_COLUMNS, so 'species' would be a feature
    with pytest.raises(ValueError, match=r"no label column 'label'.*\['f', 'species'\]"):
        load_table(path, label_column="label")
    data = load_table(_write(tmp_path / "b.csv", "f,y\n1,2\n3,4\n"), label_column=None)
    assert data.y is None and data.x.shape == (2, 2)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,x\n", r"data row 1 \(line 2\), column 'b': 'x' is not a number"),
        ("a,b\n1,2\n3,\n", r"data row 2 \(line 3\), column 'b': '' is not a number"),
        ("a,b\n1,2\n\n3,x\n", r"data row 2 \(line 4\), column 'b': 'x'"),  # a blank line is skipped, and counted
        ("a,b\n1,2\n,\n", r"data row 2 \(line 3\), column 'a': '' is not a number"),  # a row of empty cells
        ("1,2\n3,nan\n", r"data row 2 \(line 2\), column 2: 'nan' is not a finite float32 number \(1 such cell\)"),
        ("1,2\n3,1e39\n", r"'1e39' is not a finite float32 number"),
        ("a,b,c\n1,2\n", r"data row 1 \(line 2\) has 2 fields, expected 3 \(as the header\)"),
        ("1,2\n1,2,3\n", r"data row 2 \(line 2\) has 3 fields, expected 2 \(as the first row\)"),
        ("a,y,b\n1,0,3\n4,1\n", r"data row 2 \(line 3\) has 2 fields, expected 3 \(as the header\)"),
        ("# my data\na,b\n1,2\n", r"has 2 fields, expected 1 \(as the header\); '# my data' looks like a comment "
                                   r"line, which tables cannot hold: remove it"),
        ("a,b\n1,2\n# note\n3,4\n", r"data row 2 \(line 3\) has 1 field, expected 2 \(as the header\); '# note' looks"),
        ("a,b\n", r"a header and no data rows"),
        ("\n\n", r"the table is empty"),
        ("y\n1\n", r"no feature columns besides the labels 'y'"),
        ("a,y,Y\n1,2,3\n", r"2 columns that could hold the labels, \['y', 'Y'\]"),
        ("a,label,class\n1,2,3\n", r"2 columns that could hold the labels"),
        ("a,y\n1,2\n3,-1\n", r"negative"),
        ("a,y\n1,2\n3,\n", r"label column 'y' is empty in data row 2"),
        # a first row of numbers with gaps is a data row with missing values, not column names
        ("1,,3\n4,5,6\n", r"the first row \(line 1\) holds numbers and, in column 2, '': a data row with a missing"),
        ("1.0,2.0,NA\n4,5,6\n", r"in column 3, 'NA': a data row"),
        (",0,1\n0,5,6\n1,7,x\n", r"data row 2 \(line 3\), column '1': 'x'"),  # pandas' to_csv() header, with its index
        (",1990,1991\n0,5,6\n1,7,x\n", r"data row 2 \(line 3\), column '1991': 'x'"),  # numeric names (warned)
        ("1,2\n3,4", None),
    ],
)
def test_bad_tables_are_refused_by_row_and_column(tmp_path, text, message):
    path = _write(tmp_path / "bad.csv", text)
    if message is None:  # no final newline is fine
        assert load_table(path).x.shape == (2, 2)
        return
    with pytest.raises(ValueError, match=message) as err:
        load_arrays(path)
    assert str(path) in str(err.value)


def test_a_repeated_column_name_is_read_with_a_warning(tmp_path):
    path = _write(tmp_path / "twice.csv", "a,b,a,y\n1,2,3,0\n4,5,6,1\n")
    with pytest.warns(UserWarning, match=r"twice.csv: the header names 'a' more than once"):
        data = load_table(path)
    np.testing.assert_array_equal(data.x, [[1, 2, 3], [4, 5, 6]])


def test_rows_spanning_lines_are_named_by_row_only(tmp_path):
    path = _write(tmp_path / "quoted.csv", 'a,b\n"1\n",2\n3,x\n')  # a quoted field spans two lines
    with pytest.raises(ValueError, match=r"data row 2, column 'b': 'x'"):
        load_table(path)


def test_a_column_of_row_numbers_is_kept_with_a_warning(tmp_path):
    path = _write(tmp_path / "kaggle.csv", "Id,a,b,y\n1,0.5,2,x\n2,0.1,1,x\n3,0.7,0,z\n")
    with pytest.warns(UserWarning, match=r"kaggle.csv: column 'Id' counts the rows \(1, 2, …\)"):
        data = load_table(path)
    np.testing.assert_array_equal(data.x[:, 0], [1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # b falls by one: not a count; two rows: too few to say
        load_table(_write(tmp_path / "ok.csv", "a,b\n5,2\n6,1\n8,0\n"))
        load_table(_write(tmp_path / "two.csv", "a,b\n0,2\n1,1\n"))


def test_pandas_default_column_names_are_a_header_not_a_point(tmp_path):
    with pytest.warns(UserWarning, match=r"the first row, 0, 1, …, 2, is read as column names"):
        data = load_table(_write(tmp_path / "pd.csv", "0,1,2\n0.5,2,3\n1.5,4,6\n"))
    np.testing.assert_array_equal(data.x, [[0.5, 2, 3], [1.5, 4, 6]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # two columns, or another first row: data
        assert load_table(_write(tmp_path / "two.csv", "0,1\n2,3\n")).n == 2
        assert load_table(_write(tmp_path / "other.csv", "0,1,3\n2,3,4\n")).n == 2


def test_not_text_and_missing(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ValueError, match="not a readable"):
        load_table(tmp_path / "bin.csv")
    with pytest.raises(FileNotFoundError, match="no such"):
        load_arrays(tmp_path / "nothing.csv")


def test_table_names():
    assert all(is_table_file(n) for n in ("a.csv", "A.CSV", "b.tsv", "c.csv.gz", "d.tsv.gz"))
    assert not any(is_table_file(n) for n in ("a.txt", "a.csv.zip", "a.npz", "csv"))


def test_an_unnamed_first_column_is_warned_about_as_pandas_index(tmp_path):
    path = _write(tmp_path / "pd.csv", ",a,b,y\n0,0.6,0.2,0\n2,0.8,0.9,0\n3,0.1,0.2,1\n5,0.3,0.3,1\n")
    with pytest.warns(UserWarning, match=r"pd.csv: the first column has no name, as the index pandas' to_csv\(\) "
                                         r"writes: it is clustered as a feature") as caught:
        data = load_table(path)
    assert data.feature_names == ("", "a", "b") and len(caught) == 1
    with pytest.warns(UserWarning) as caught:  # counting the rows too: one warning, not two
        load_table(_write(tmp_path / "pd2.csv", ",a,y\n0,0.6,0\n1,0.8,0\n2,0.1,1\n"))
    assert len(caught) == 1


def test_leading_blank_lines_do_not_hide_the_delimiter(tmp_path):
    data = load_table(_write(tmp_path / "semi.csv", "\n\na;b;y\n1;2;1\n3;4;0\n"))
    np.testing.assert_array_equal(data.x, [[1, 2], [3, 4]])


def test_integer_labels_beyond_int64_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"big.csv: the label column 'y' holds 99999999999999999999, beyond int64"):
        load_table(_write(tmp_path / "big.csv", "a,y\n1,99999999999999999999\n3,1\n"))


def test_a_corrupt_gzipped_table_is_a_value_error(tmp_path):
    import gzip

    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress("".join(f"{i},{i * 7 % 13}\n" for i in range(2000)).encode()))
    raw = bytearray(path.read_bytes())
    for offset in range(20, len(raw) - 20, 53):
        raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"t.csv.gz: not a readable UTF-8 text table"):
        load_table(path)


def test_integers_float32_would_round_are_refused_as_in_an_npz(tmp_path):
    """16 777 217 is 2**24 + 1: float32 reads it as 16 777 216 (an id or a count would change
    without a word). Integers float32 holds, and numbers written as floats, are read."""
    for text in ("a,b\n16777217,2\n3,4\n", 'a,b\n"16777217",2\n3,4\n'):  # NumPy's parser, the csv module's
        with pytest.raises(ValueError, match=r"column 'a' holds integers float32 cannot hold exactly .*: "
                                             r"16777217 in data row 1 would be read as 16777216"):
            load_table(_write(tmp_path / "ids.csv", text))
    data = load_table(_write(tmp_path / "ok.csv", "a,b\n33554432,2.5\n16777217.5,4\n"))
    assert data.x[0, 0] == 2**25
    assert load_table(_write(tmp_path / "floats.csv", "a,b\n1.5e20,1\n2.5e20,2\n")).n == 2  # floats, as written
    with pytest.raises(ValueError, match=r"-16777217 in data row 2 would be read as -16777216"):
        load_table(_write(tmp_path / "neg.csv", "a,b\n3,1\n-16777217,2\n"))
