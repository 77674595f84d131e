import pytest

from hybrid.lang import ALPHABETIC, CJK, document_script, query_script


@pytest.mark.parametrize("text,script", [
    ("童工在肯尼亚很常见。2006 年 UNICEF 估计", CJK),
    ("Child labour is common in Kenya; 童工 means child labour.", ALPHABETIC),
    ("Python 虚拟环境用 python -m venv .venv 创建，激活后再 pip install 安装依赖。", CJK),  # quotes code
    ("pandas 的 DataFrame 如何按某一列排序？使用 df.sort_values(\"列名\")，降序加 ascending=False。", CJK),
    ("model.eval() 会关闭 Dropout 并让 BatchNorm 使用训练时统计的均值和方差。", CJK),
    ("Two-factor authentication (2FA) can be turned on under 安全设置 in the settings.", ALPHABETIC),
    ("iphone12价格", CJK),  # a Chinese title naming a product
    ("2006 — 115", ""),
    ("東京タワー", CJK),
])
def test_document_script(text, script):
    assert document_script(text) == script


@pytest.mark.parametrize("text,script", [
    ("sqlserver2008怎么启动服务器", CJK),  # any Chinese character makes a Chinese query
    ("What did DECnet phase 2 become", ALPHABETIC),
    ("20160216", ""),
])
def test_query_script(text, script):
    assert query_script(text) == script
